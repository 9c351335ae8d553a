"""The documentation; diagnostics.md ships as package data (`nndc explain`)."""
