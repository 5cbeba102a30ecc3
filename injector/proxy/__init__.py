"""The proxies behind network.latency, network.timeout (hold) and http.error.

Each runs as a detached child of the agent (``python -m injector.proxy tcp|hold|http ...``),
inside the target's network namespace, behind an nftables redirect. The agent side (nft
table, child bookkeeping) is ``injector.proxy.redirect``; the programs are ``delay``,
``hold`` and ``http_fault``.
"""
