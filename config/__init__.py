"""Typed settings for Ventanilla: one validated tree from TOML plus environment overrides."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
