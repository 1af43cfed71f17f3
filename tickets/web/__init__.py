"""The web form: validation, CSRF tokens, abuse caps (the pages live in ventanilla.web)."""
