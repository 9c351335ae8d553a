"""The nnd grammar (nnd.lark), shipped as package data."""
