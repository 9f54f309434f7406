"""Talking to the helper: the asynchronous D-Bus client, what the app knows of the helper,
and the optional VirusTotal look-up."""
