"""International host names in the form DNS carries them: IDNA2008 (python3-idna), UTS 46
mapping, non-transitional. `straße.example` is `xn--strae-oqa.example`; Python's own
"idna" codec is IDNA2003 and would make it `strasse.example`, another name.

`idna` is imported only for a non-ASCII name: the app (and its Flatpak, which has no
`idna`) loads this module with the rules' fields but never folds a name itself.
"""


def ascii_name(name: str) -> str | None:
    """`name` with each non-ASCII label in its A-label (`xn--`) form, or None when IDNA2008
    refuses one. ASCII labels are left as they are: DNS names carry underscores and
    hyphens that IDNA would refuse."""
    if name.isascii():
        return name
    import idna  # only here: see the module's docstring

    labels = []
    for label in name.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii"))
        except UnicodeError:  # idna.IDNAError and its kinds
            return None
    return ".".join(labels)
