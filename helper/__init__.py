"""netwarden-helper: the privileged half of Netwarden.

It owns the netfilter rules, the queue, the rules engine and the database, and offers
them to the unprivileged app only through its D-Bus API, every call authorized by polkit.
"""

__version__ = "0.1.0"
