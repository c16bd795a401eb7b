/// Ties what a proxy answers to the file it was loaded from (README: Only what is served counts).
///
/// Every proxying listener of a rendered file answers `GET /.well-known/gocd-proxy-sync/generation`
/// itself, to this host only, with `gocd-proxy-sync-generation=<hex>`, where `<hex>` is a digest of the
/// file's own text. The path is never forwarded to GoCD, by this file or by any earlier one rendered by
/// this program. After a reload, an answer carrying the new digest proves the proxy loaded the new file;
/// the old configuration answers with the old digest (or not at all).
public enum Generation {
    /// The path the proxy answers itself.
    public static let path = "/.well-known/gocd-proxy-sync/generation"
    /// The location prefix that is never proxied.
    public static let prefix = "/.well-known/gocd-proxy-sync/"
    /// What precedes the digest in the answer.
    public static let bodyPrefix = "gocd-proxy-sync-generation="
    /// Stands in for the digest while it is computed.
    static let placeholder = "0000000000000000"

    /// Replaces the placeholder with the digest of the text that contains the placeholder.
    static func seal(_ text: String) -> String {
        let marker = bodyPrefix + placeholder
        guard text.contains(marker) else { return text }
        let digest = Digest.fnv1a64Hex(Array(text.utf8))
        return text.replacing(marker, with: bodyPrefix + digest)
    }

    /// The generation a rendered file answers with, or nil when it has no proxying listener (or is not ours).
    public static func of(_ text: String) -> String? {
        guard let range = text.firstRange(of: bodyPrefix) else { return nil }
        let digits = text[range.upperBound...].prefix(16)
        guard digits.count == 16, digits.utf8.allSatisfy({ HostName.isHex($0) }) else { return nil }
        return String(digits)
    }

    /// The generation in an answer body, or nil.
    public static func inAnswer(_ body: String) -> String? { of(body) }
}

/// A small non-cryptographic digest, to recognise bytes this program wrote (drift) and to name generations.
public enum Digest {
    /// FNV-1a, 64 bits, as 16 lower-case hex digits.
    public static func fnv1a64Hex(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
