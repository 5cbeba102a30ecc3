// probe_check: the smallest real eBPF program, used by `drillhall doctor`.
// Counts exec() calls through the sched:sched_process_exec tracepoint (tracepoints only:
// this kernel has no kprobes). If it compiles, attaches and counts one exec, bcc works.
BPF_ARRAY(execs, u64, 1);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    int zero = 0;
    u64 *count = execs.lookup(&zero);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}
