// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Netwarden's data plane: who owns a socket, recorded when the program creates or uses
 * it, and published by exact 5-tuple before netfilter queues the flow's first packet.
 *
 *   cgroup/sock_create            owners[cookie] = the creating process (sock_release drops it)
 *   cgroup/connect4/6, sendmsg4/6 owners[cookie] = the using process, if not the recorded one
 *   exes[tgid, start, exec]       the executable's path, walked from its dentry once per image
 *   netfilter LOCAL_OUT -199      flows[5-tuple] = owners[skb->sk's cookie], for new flows only
 *
 * The helper reads flows[] (and exes[]) from its queue callback: O(1), and still there
 * when the process has already closed the socket or exited. See docs/packet-path.md.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL"; /* bpf_probe_read_kernel and current task are GPL-only */

#define NFPROTO_IPV4 2
#define NFPROTO_IPV6 10
#define NF_ACCEPT 1
#define CT_INFO_MASK 7
#define CT_NEW 2
#define CT_UNTRACKED 7
#define IPPROTO_ICMPV6_ 58
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define IP_OFFSET 0x1fff

#define EXE_LEN 256   /* the path as stored: its components leaf first, each NUL-ended */
#define EXE_DEPTH 40  /* folders walked at most; deeper is "truncated" */
#define EXE_COMPLETE 1
#define EXE_DELETED 2

struct owner {
	__u64 cgroup_id;
	__u64 start_ns;  /* the process's start (boot time ns): tells a reused pid apart */
	__u64 exec_id;   /* the task's exec count: tells an exec'd image apart */
	__u64 root_ino;  /* the process's root folder (a container, a chroot: another one) */
	__u32 root_dev;
	__u32 tgid, pid; /* as the helper's pid namespace numbers them; 0: not in it */
	__u32 uid, gid;
	__u32 global_tgid;
	char comm[16];
};

/* Written by the helper after loading: its pid namespace (nsfs device and inode). */
struct config {
	__u64 pidns_dev, pidns_ino;
};

struct flow_owner {
	struct owner owner;
	__u32 sock_uid;  /* the socket's uid (sk_uid), as sock_diag reports it */
	__u32 _pad;
};

struct flow_key {
	__u8 version, protocol;
	__u16 sport, dport;  /* host order; for ICMP echo: identifier, type */
	__u16 _pad;
	__u8 src[16], dst[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} settings SEC(".maps");

struct exe_key {
	__u32 tgid, _pad;
	__u64 start_ns, exec_id;
};

struct exe {
	__u32 length, flags;
	char path[EXE_LEN];
};

struct scratch {
	struct exe exe;
	char spill[EXE_LEN]; /* a component read at the last offset may run past path[] */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, struct flow_key);
	__type(value, struct flow_owner);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 12);
	__type(key, struct exe_key);
	__type(value, struct exe);
} exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratches SEC(".maps");

/* The executable's path as the process sees it: from its dentry up to the process's
 * root (crossing mounts), as d_path does; stored leaf first, the helper reverses it. */
static __always_inline void read_exe(struct task_struct *task, struct exe *exe)
{
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 offset = 0;

	exe->length = 0;
	exe->flags = 0;
	if (!file)
		return;
	if (!BPF_CORE_READ(dentry, d_hash.pprev))
		exe->flags |= EXE_DELETED;
	for (int depth = 0; depth < EXE_DEPTH; depth++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);

		if (dentry == root_dentry && vfsmnt == root_mnt) {
			exe->flags |= EXE_COMPLETE;
			break;
		}
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt_parent == mnt) { /* the namespace's root, outside a chroot */
				exe->flags |= EXE_COMPLETE;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = (struct vfsmount *)((char *)mnt + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		if (offset >= EXE_LEN)
			break;
		long read = bpf_probe_read_kernel_str(&exe->path[offset & (EXE_LEN - 1)], EXE_LEN,
						      BPF_CORE_READ(dentry, d_name.name));
		if (read <= 0)
			break;
		offset += read;
		dentry = parent;
	}
	if (offset > EXE_LEN) { /* the last component did not fit */
		exe->flags &= ~EXE_COMPLETE;
		offset = EXE_LEN;
	}
	exe->length = offset;
}

static __always_inline void record(__u64 cookie)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 zero = 0;
	struct config *config = bpf_map_lookup_elem(&settings, &zero);
	struct bpf_pidns_info in_ns = {};
	struct owner owner = {
		.cgroup_id = bpf_get_current_cgroup_id(),
		.start_ns = BPF_CORE_READ(task, group_leader, start_boottime),
		.exec_id = BPF_CORE_READ(task, self_exec_id),
		.uid = (__u32)uid_gid,
		.gid = uid_gid >> 32,
		.root_ino = BPF_CORE_READ(task, fs, root.dentry, d_inode, i_ino),
		.root_dev = BPF_CORE_READ(task, fs, root.dentry, d_inode, i_sb, s_dev),
		.global_tgid = bpf_get_current_pid_tgid() >> 32,
	};

	if (config && !bpf_get_ns_current_pid_tgid(config->pidns_dev, config->pidns_ino, &in_ns,
						     sizeof(in_ns))) {
		owner.tgid = in_ns.tgid;
		owner.pid = in_ns.pid;
	}
	struct exe_key key = {.tgid = owner.global_tgid, .start_ns = owner.start_ns,
			      .exec_id = owner.exec_id};

	bpf_get_current_comm(owner.comm, sizeof(owner.comm));
	bpf_map_update_elem(&owners, &cookie, &owner, BPF_ANY);
	if (bpf_map_lookup_elem(&exes, &key))
		return;
	struct scratch *scratch = bpf_map_lookup_elem(&scratches, &zero);
	if (!scratch)
		return;
	read_exe(task, &scratch->exe);
	bpf_map_update_elem(&exes, &key, &scratch->exe, BPF_NOEXIST);
}

/* A socket used by another process than the one recorded (handed over, inherited), or
 * by the same after it exec'd another program. */
static __always_inline void used(__u64 cookie)
{
	struct owner *owner = bpf_map_lookup_elem(&owners, &cookie);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!owner || owner->global_tgid != bpf_get_current_pid_tgid() >> 32 ||
	    owner->exec_id != BPF_CORE_READ(task, self_exec_id))
		record(cookie);
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	record(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	bpf_map_delete_elem(&owners, &cookie);
	return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	used(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	used(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	used(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	used(bpf_get_socket_cookie(ctx));
	return 1;
}

/* Whether the packet may start a flow Netwarden queues: a TCP SYN, or conntrack NEW
 * (or untracked) for anything else; established traffic costs one field read. */
static __always_inline int may_be_new(struct sk_buff *skb, __u8 protocol, __u8 tcp_flags)
{
	unsigned long nfct = BPF_CORE_READ(skb, _nfct);
	__u32 info = nfct & CT_INFO_MASK;

	if (protocol == IPPROTO_TCP)
		return (tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	return !nfct || info == CT_NEW || info == CT_UNTRACKED;
}

SEC("netfilter")
int local_out(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 network = BPF_CORE_READ(skb, network_header);
	__u8 pf = BPF_CORE_READ(ctx, state, pf);
	struct flow_key key = {};
	__u32 transport;
	__u8 ports[4] = {}, tcp_flags = 0;

	if (pf == NFPROTO_IPV4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network))
			return NF_ACCEPT;
		if (bpf_ntohs(ip.frag_off) & IP_OFFSET)
			return NF_ACCEPT;
		key.version = 4;
		key.protocol = ip.protocol;
		__builtin_memcpy(key.src, &ip.saddr, 4);
		__builtin_memcpy(key.dst, &ip.daddr, 4);
		transport = network + ip.ihl * 4;
	} else if (pf == NFPROTO_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network))
			return NF_ACCEPT;
		key.version = 6;
		key.protocol = ip6.nexthdr; /* extension headers: no ports read, no entry matches */
		__builtin_memcpy(key.src, &ip6.saddr, 16);
		__builtin_memcpy(key.dst, &ip6.daddr, 16);
		transport = network + sizeof(ip6);
	} else {
		return NF_ACCEPT;
	}
	switch (key.protocol) {
	case IPPROTO_TCP:
		bpf_probe_read_kernel(&tcp_flags, 1, head + transport + 13);
		/* fall through */
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		bpf_probe_read_kernel(ports, 4, head + transport);
		key.sport = ports[0] << 8 | ports[1];
		key.dport = ports[2] << 8 | ports[3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		bpf_probe_read_kernel(ports, 1, head + transport);
		bpf_probe_read_kernel(ports + 2, 2, head + transport + 4);
		key.sport = ports[2] << 8 | ports[3];
		key.dport = ports[0];
		break;
	}
	if (!may_be_new(skb, key.protocol, tcp_flags))
		return NF_ACCEPT;

	struct sock *sk = BPF_CORE_READ(skb, sk);
	__u64 cookie = sk ? BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) : 0;
	struct owner *owner = cookie ? bpf_map_lookup_elem(&owners, &cookie) : 0;

	if (!owner) { /* not ours to tell: an older entry for this tuple must not answer */
		bpf_map_delete_elem(&flows, &key);
		return NF_ACCEPT;
	}
	struct flow_owner value = {.owner = *owner, .sock_uid = BPF_CORE_READ(sk, sk_uid.val)};

	bpf_map_update_elem(&flows, &key, &value, BPF_ANY);
	return NF_ACCEPT;
}
