/// A reader of the proxy's configuration dump, fed as the bytes arrive (``NginxDumpReader``, ``ApacheDumpReader``).
public protocol DumpReader: Sendable {
    mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8
    /// The inventory, or nil with ``uncertainty`` set when the dump cannot be read with certainty.
    mutating func finish() -> ProxyInventory?
    var uncertainty: String? { get }
}

extension NginxDumpReader: DumpReader {}
extension ApacheDumpReader: DumpReader {}
