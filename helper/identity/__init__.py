"""Who a flow belongs to: socket to owner, process details, binary hashes, DNS names."""
