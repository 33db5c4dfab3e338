/// The version of dcrond, shown by `dcrond --version` and published in each node's heartbeat.
package enum DcrondVersion {
    package static let current = "0.2.0"
}
