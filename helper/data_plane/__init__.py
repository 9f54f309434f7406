"""The eBPF data plane: who owns each socket, recorded in the kernel when the program
creates or uses it, read by the packet path by exact 5-tuple (see docs/packet-path.md)."""
