"""The packet path: netfilter rules and queues, the packet parser, the per-packet pipeline,
and held flows with their prompts."""
