// Package linkem emulates a wide-area network link in user space: one TCP
// proxy per lab host, whose two directions pass through Toxiproxy's latency
// and bandwidth toxics (github.com/Shopify/toxiproxy/v2/toxics).
//
// The lab uses it because this machine's kernel has no netem qdisc: every
// tool (plan, ssh, scp, Ansible) reaches a host through its proxy, named in
// the lab's ssh_config as HostName/Port, with HostKeyAlias keeping the host's
// own key entry. Only the client-to-host path is shaped; hosts reach each
// other directly on the lab's bridge.
//
// What a Shape models, per connection:
//   - Latency (one way) delays every chunk of bytes in each direction, so a
//     request and its reply take 2×Latency, the round-trip time (RTT). Jitter
//     adds a uniform ±Jitter per chunk; chunks are never reordered (TCP).
//     Toxiproxy counts both in whole milliseconds.
//   - Bandwidth caps each direction's rate after the delay (Toxiproxy's
//     bandwidth toxic, KB/s granularity).
//   - The TCP handshake: the proxy accepts locally at once, so it waits one
//     RTT before it dials the host; a new connection then costs its
//     handshake's round trip as on a real link.
//
// Only Toxiproxy's toxics and streams are used, not its HTTP API server (which
// would bring Prometheus and an HTTP router into every binary that imports the
// lab); the small accept loop and toxic chain here stand in for its Proxy and
// ToxicLink, fixed for the proxy's life.
package linkem
