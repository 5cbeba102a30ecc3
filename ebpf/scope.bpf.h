// scope: whose tasks a process collector keeps, checked in the kernel.
// Included by runqueue.bpf.c and syscalls.bpf.c; the loader (ebpf/bcc_program.py) fills the
// maps and passes the switches:
//   -DFILTER_PIDS=1     keep tasks of processes (tgids) listed in scope_pids
//   -DFILTER_CGROUPS=1  keep tasks whose cgroup v2 id is listed in scope_cgroups
//   (both: either one matches; neither: every task, which is only chosen on purpose)
#ifndef DRILLHALL_SCOPE_BPF_H
#define DRILLHALL_SCOPE_BPF_H

BPF_HASH(scope_pids, u32, u8, 4096);
BPF_HASH(scope_cgroups, u64, u8, 1024);

// Whether the current task is in scope; with no filter compiled in, always.
static __always_inline int current_in_scope(void)
{
#if defined(FILTER_PIDS) || defined(FILTER_CGROUPS)
#ifdef FILTER_PIDS
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (scope_pids.lookup(&tgid))
        return 1;
#endif
#ifdef FILTER_CGROUPS
    u64 cgroup = bpf_get_current_cgroup_id();
    if (scope_cgroups.lookup(&cgroup))
        return 1;
#endif
    return 0;
#else
    return 1;
#endif
}

#endif
