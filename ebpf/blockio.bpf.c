// blockio: latency of block requests, from issue to the device to completion.
// Tracepoints only (no kprobes here): block:block_rq_issue starts the clock for a request,
// block:block_rq_complete stops it; a request is named by (dev, sector), which is all the
// completion tracepoint says about it.
//
// Scope is by device, not by process: a request completes in interrupt context and is often
// issued by a kernel worker on behalf of whoever queued it, so no pid is honest here.
// cflags: -DFILTER_DEVICES=1 keeps devices listed in scope_devices (kernel dev_t,
// major << 20 | minor); without it every block device counts.
//
// Output, cleared by the reader every interval (latency.bpf.h): totals[0] (count, summed ns)
// and hist, a log2 histogram of the latency in microseconds keyed by slot.

#include "latency.bpf.h"

struct req_key {
    u32 dev;
    u32 pad;
    u64 sector;
};

BPF_HASH(scope_devices, u32, u8, 256);
BPF_HASH(start, struct req_key, u64, 16384);

TRACEPOINT_PROBE(block, block_rq_issue)
{
    u32 dev = args->dev;
#ifdef FILTER_DEVICES
    if (!scope_devices.lookup(&dev))
        return 0;
#endif
    struct req_key key = {.dev = dev, .sector = args->sector};
    u64 ts = bpf_ktime_get_ns();
    start.update(&key, &ts);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_complete)
{
    struct req_key key = {.dev = args->dev, .sector = args->sector};
    u64 *ts = start.lookup(&key);
    if (!ts)
        return 0;  // another device, or issued before we attached
    u64 delta = bpf_ktime_get_ns() - *ts;
    start.delete(&key);
    record_latency(delta);
    return 0;
}
