// tcp: TCP retransmits, resets sent/received and active connects (count, failures, latency),
// kept only for sockets in the network namespaces of the drill's targets.
//
// Tracepoints only (this kernel has no kprobes): tcp:tcp_retransmit_skb, tcp:tcp_send_reset,
// tcp:tcp_receive_reset, sock:inet_sock_set_state. Which of them are compiled in is chosen by
// the loader (ebpf/tcp.py) with -DWANT_RETRANSMITS / -DWANT_RESETS / -DWANT_CONNECT.
//
// Struct offsets come from the running kernel's BTF as -D flags (the headers bcc compiles
// against are older than the kernel, so their struct layouts cannot be trusted):
//   SK_NET_OFF   struct sock_common.skc_net.net   (struct net *)
//   NET_INUM_OFF struct net.ns.inum               (u32, the inode of /proc/PID/ns/net)
//   SKB_DEV_OFF  struct sk_buff.dev               (struct net_device *)
//   DEV_NET_OFF  struct net_device.nd_net.net     (struct net *)
// FILTER_NETNS=1 keeps only namespaces listed in scope_netns; 0 keeps all.

// bcc builds tcp_send_reset's argument struct from tracefs, which names `enum sk_rst_reason`
// (6.10+); older headers lack it. Point the name at a local 4-byte enum of our own, so newer
// headers that do define it cannot clash.
#define sk_rst_reason drillhall_sk_rst_reason
enum drillhall_sk_rst_reason { DRILLHALL_SK_RST_REASON_ANY = 0 };

#define IPPROTO_TCP_ 6
#define TCP_ESTABLISHED_ 1
#define TCP_SYN_SENT_ 2
#define TCP_CLOSE_ 7

// Slots of the counters map; the loader reads them by the same numbers.
#define C_RETRANSMITS 0
#define C_RESETS_SENT 1
#define C_RESETS_RECEIVED 2
#define C_CONNECT_ATTEMPTS 3
#define C_CONNECTS 4
#define C_CONNECT_FAILURES 5
#define C_CONNECT_LATENCY_NS 6

BPF_HASH(scope_netns, u32, u8, 64);
// Hash maps (not arrays) so the loader can read and delete them in one batch per interval.
BPF_HASH(counters, u32, u64, 16);
BPF_HASH(connect_hist, u32, u64, 64);   // log2 slot of the latency in microseconds -> count
BPF_HASH(connect_start, u64, u64, 10240); // socket address -> ktime of entering SYN_SENT

static __always_inline u32 net_inum(const void *net)
{
    u32 inum = 0;
    if (net)
        bpf_probe_read_kernel(&inum, sizeof(inum), (const char *)net + NET_INUM_OFF);
    return inum;
}

// Network namespace inode of a socket (any kind that starts with sock_common: full,
// request or timewait), or 0 when it cannot be read.
static __always_inline u32 sk_netns(const void *sk)
{
    const void *net = 0;
    if (!sk)
        return 0;
    bpf_probe_read_kernel(&net, sizeof(net), (const char *)sk + SK_NET_OFF);
    return net_inum(net);
}

// Namespace of a received packet, through the device it arrived on (for resets sent with no
// socket, such as a SYN to a closed port).
static __always_inline u32 skb_netns(const void *skb)
{
    const void *dev = 0;
    const void *net = 0;
    if (!skb)
        return 0;
    bpf_probe_read_kernel(&dev, sizeof(dev), (const char *)skb + SKB_DEV_OFF);
    if (!dev)
        return 0;
    bpf_probe_read_kernel(&net, sizeof(net), (const char *)dev + DEV_NET_OFF);
    return net_inum(net);
}

static __always_inline int in_scope(u32 inum)
{
#if FILTER_NETNS
    return inum && scope_netns.lookup(&inum) != 0;
#else
    return 1;
#endif
}

static __always_inline void add(u32 slot, u64 n)
{
    u64 zero = 0;
    u64 *value = counters.lookup_or_try_init(&slot, &zero);
    if (value)
        __sync_fetch_and_add(value, n);
}

#if WANT_RETRANSMITS
TRACEPOINT_PROBE(tcp, tcp_retransmit_skb)
{
    if (in_scope(sk_netns(args->skaddr)))
        add(C_RETRANSMITS, 1);
    return 0;
}
#endif

#if WANT_RESETS
TRACEPOINT_PROBE(tcp, tcp_send_reset)
{
    const void *sk = args->skaddr;
    u32 inum = sk ? sk_netns(sk) : skb_netns(args->skbaddr);
    if (in_scope(inum))
        add(C_RESETS_SENT, 1);
    return 0;
}

TRACEPOINT_PROBE(tcp, tcp_receive_reset)
{
    if (in_scope(sk_netns(args->skaddr)))
        add(C_RESETS_RECEIVED, 1);
    return 0;
}
#endif

#if WANT_CONNECT
TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != IPPROTO_TCP_)
        return 0;
    u64 sk = (u64)args->skaddr;
    int newstate = args->newstate;
    if (newstate == TCP_SYN_SENT_) {
        if (!in_scope(sk_netns(args->skaddr)))
            return 0;
        u64 now = bpf_ktime_get_ns();
        connect_start.update(&sk, &now);
        add(C_CONNECT_ATTEMPTS, 1);
        return 0;
    }
    if (args->oldstate != TCP_SYN_SENT_)
        return 0;
    // Only sockets whose SYN_SENT was seen in scope have a start time.
    u64 *started = connect_start.lookup(&sk);
    if (!started)
        return 0;
    u64 delta = bpf_ktime_get_ns() - *started;
    connect_start.delete(&sk);
    if (newstate == TCP_ESTABLISHED_) {
        add(C_CONNECTS, 1);
        add(C_CONNECT_LATENCY_NS, delta);
        u32 slot = bpf_log2l(delta / 1000);
        u64 zero = 0;
        u64 *count = connect_hist.lookup_or_try_init(&slot, &zero);
        if (count)
            __sync_fetch_and_add(count, 1);
    } else if (newstate == TCP_CLOSE_) {
        add(C_CONNECT_FAILURES, 1);
    }
    return 0;
}
#endif
