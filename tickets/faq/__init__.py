"""The FAQ: entries read from a folder of Markdown files, and the matcher that suggests them."""
