// latency: one latency series per program, as the loader reads it (bcc_program.drain_latency).
// Included by runqueue.bpf.c and blockio.bpf.c. Output, cleared by the reader every interval:
// totals[0] (count, summed ns) and hist, a log2 histogram of the latency in microseconds keyed
// by slot.
#ifndef DRILLHALL_LATENCY_BPF_H
#define DRILLHALL_LATENCY_BPF_H

struct total_t {
    u64 count;
    u64 sum_ns;
};

BPF_HASH(totals, u32, struct total_t, 1);
BPF_HISTOGRAM(hist, u32, 64);

static __always_inline void record_latency(u64 delta_ns)
{
    u32 zero_key = 0;
    struct total_t zero = {};
    struct total_t *t = totals.lookup_or_try_init(&zero_key, &zero);
    if (t) {
        __sync_fetch_and_add(&t->count, 1);
        __sync_fetch_and_add(&t->sum_ns, delta_ns);
    }
    u32 slot = bpf_log2l(delta_ns / 1000);
    hist.increment(slot);
}

#endif
