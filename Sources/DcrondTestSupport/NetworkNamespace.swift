import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace joined to this one by a veth pair on link-local addresses made for it
/// (`169.254.<n>.1` here, `169.254.<n>.2` inside), so that a process run inside reaches a server
/// listening on the outer address, and nftables rules inside cut it off: both directions, or only
/// the replies (requests still arrive and are executed). Needs root; ``available`` says whether
/// the machine can make one.
package final class NetworkNamespace: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; commands run through the shell.
    package let name: String
    package let outerAddress: String
    package let innerAddress: String
    private let outerInterface: String

    /// Root with `ip` and `nft` installed.
    package static var available: Bool {
        geteuid() == 0 && access("/usr/sbin/ip", X_OK) == 0 && access("/usr/sbin/nft", X_OK) == 0
    }

    /// `index` (1–250) picks the /30 subnet; tests running at once use different ones.
    package init(index: Int) throws {
        let tag = String(UInt32.random(in: 0...0xFFFFFF), radix: 16)
        name = "dcrond-\(tag)"
        outerInterface = "dcv\(tag)"
        outerAddress = "169.254.\(index).1"
        innerAddress = "169.254.\(index).2"
        let script = """
            set -e
            ip netns add \(name)
            ip link add \(outerInterface) type veth peer name inner0 netns \(name)
            ip addr add \(outerAddress)/30 dev \(outerInterface)
            ip link set \(outerInterface) up
            ip netns exec \(name) ip addr add \(innerAddress)/30 dev inner0
            ip netns exec \(name) ip link set inner0 up
            ip netns exec \(name) ip link set lo up
            """
        guard shellOutputBlocking(script + "\necho ok") == "ok\n" else {
            remove()
            throw HarnessError("cannot create network namespace \(name) (needs root, iproute2)")
        }
    }

    /// The command line that runs `arguments` inside the namespace.
    package func wrap(_ arguments: [String]) -> [String] { ["/usr/sbin/ip", "netns", "exec", name] + arguments }

    package enum Cut: String, Sendable { case both, repliesOnly }

    /// Drops the namespace's traffic (`both`), or only what arrives in it (`repliesOnly`).
    package func cut(_ cut: Cut) {
        let output =
            cut == .both ? "nft add chain inet cut out '{ type filter hook output priority 0; policy drop; }'" : "true"
        _ = shellOutputBlocking(
            """
            ip netns exec \(name) sh -c "nft add table inet cut && nft add chain inet cut in '{ type filter hook input priority 0; policy drop; }' && \(output)"
            """
        )
    }

    /// Lets traffic through again.
    package func heal() { _ = shellOutputBlocking("ip netns exec \(name) nft delete table inet cut") }

    package func remove() {
        _ = shellOutputBlocking("ip link del \(outerInterface) 2>/dev/null; ip netns del \(name) 2>/dev/null; true")
    }
}
