/// `value` rounded to `decimals` places, as printed by the benchmarks.
func rounded(_ value: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    return String((value * scale).rounded() / scale)
}

/// A duration in milliseconds: `12.34 ms`.
func milliseconds(_ duration: Duration, decimals: Int = 2) -> String {
    rounded(duration.seconds * 1000, decimals: decimals) + " ms"
}

/// A value already in milliseconds: `12.34 ms`.
func milliseconds(_ value: Double, decimals: Int = 2) -> String {
    rounded(value, decimals: decimals) + " ms"
}

/// `text` padded with spaces to `width` characters, for columns.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
