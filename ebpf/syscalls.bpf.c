// syscalls: latency and errors of read / write / fsync system calls, per scoped process.
// Tracepoints only (this kernel has no kprobes): syscalls:sys_enter_* and sys_exit_* for
// read, pread64, write, pwrite64, fsync and fdatasync. The scope is checked in the kernel
// on entry, so calls of other processes cost one map lookup and are never recorded.
//
// cflags: -DFILTER_PIDS=1 (tgids in scope_pids), -DFILTER_CGROUPS=1 (cgroup v2 ids in
// scope_cgroups); both: either one matches; neither: every process (scope.bpf.h).
//
// Output, cleared by the reader every interval:
//   totals[op]  calls, summed latency (ns) and negative returns, op 0 read, 1 write, 2 fsync
//   hist        log2 histogram of latency in microseconds, keyed by (op, slot)

#include "scope.bpf.h"

#define OP_READ 0
#define OP_WRITE 1
#define OP_FSYNC 2
#define OPS 3

struct start_t {
    u64 ts;
    u32 op;
};

struct total_t {
    u64 calls;
    u64 sum_ns;
    u64 errors;
};

struct hist_key {
    u32 op;
    u32 slot;
};

BPF_HASH(start, u32, struct start_t, 16384);  // by thread id: a call in flight
BPF_HASH(totals, u32, struct total_t, OPS);
BPF_HISTOGRAM(hist, struct hist_key, 256);

static __always_inline int enter(u32 op)
{
    if (!current_in_scope())
        return 0;
    u32 tid = bpf_get_current_pid_tgid();
    struct start_t s = {.ts = bpf_ktime_get_ns(), .op = op};
    start.update(&tid, &s);
    return 0;
}

static __always_inline int leave(long ret)
{
    u32 tid = bpf_get_current_pid_tgid();
    struct start_t *s = start.lookup(&tid);
    if (!s)
        return 0;  // out of scope, or entered before we attached
    u64 delta = bpf_ktime_get_ns() - s->ts;
    u32 op = s->op;
    start.delete(&tid);
    struct total_t zero = {};
    struct total_t *t = totals.lookup_or_try_init(&op, &zero);
    if (t) {
        __sync_fetch_and_add(&t->calls, 1);
        __sync_fetch_and_add(&t->sum_ns, delta);
        if (ret < 0)
            __sync_fetch_and_add(&t->errors, 1);
    }
    struct hist_key key = {.op = op, .slot = bpf_log2l(delta / 1000)};
    hist.increment(key);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_read) { return enter(OP_READ); }
TRACEPOINT_PROBE(syscalls, sys_exit_read) { return leave(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { return enter(OP_READ); }
TRACEPOINT_PROBE(syscalls, sys_exit_pread64) { return leave(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_write) { return enter(OP_WRITE); }
TRACEPOINT_PROBE(syscalls, sys_exit_write) { return leave(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { return enter(OP_WRITE); }
TRACEPOINT_PROBE(syscalls, sys_exit_pwrite64) { return leave(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_fsync) { return enter(OP_FSYNC); }
TRACEPOINT_PROBE(syscalls, sys_exit_fsync) { return leave(args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_fdatasync) { return enter(OP_FSYNC); }
TRACEPOINT_PROBE(syscalls, sys_exit_fdatasync) { return leave(args->ret); }
