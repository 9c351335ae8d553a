"""The nnd standard library, written in .nnd (`import std.<name>`)."""
