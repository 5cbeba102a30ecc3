"""/proc fallbacks for the eBPF collectors: same names and metrics where /proc has a counter,
``Source.PROC`` on every sample, coarser evidence, no latency histograms."""
