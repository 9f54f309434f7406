"""netwarden_common: pure code both sides of the trust boundary need: the D-Bus API names,
rule fields and validation, the rules file format, D-Bus value conversion, the interpreters
list, private file writing and user names. It imports nothing from the helper or the app."""
