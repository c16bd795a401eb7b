/// Reads `httpd -t -D DUMP_VHOSTS` output as a stream, line by line (LF or CRLF), into the virtual hosts it
/// lists (`ap_dump_vhosts` in httpd's `server/vhost.c` writes it):
///
///     *:80                   is a NameVirtualHost
///              default server other.test (/etc/apache2/sites-enabled/other.conf:1)
///              port 80 namevhost other.test (/etc/apache2/sites-enabled/other.conf:1)
///                      alias www.other.test
///                      wild alias *.other.test
///     127.0.0.1:8443         gocd.test (/etc/apache2/sites-enabled/gocd.conf:3)
///
/// Whether a virtual host uses TLS is not in the dump: the caller reads it from the file and line given.
public struct ApacheDumpReader: Sendable {
    let managedPaths: Set<String>
    var pending: [UInt8] = []
    var current: (String?, Int)?
    /// Whether the last site appended belongs to the current name-based group (aliases attach to it).
    var lastSiteOpen = false
    var inventory = ProxyInventory()
    var uncertain: String?

    public init(managedPaths: Set<String>) {
        self.managedPaths = managedPaths
    }

    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            if byte == 0x0A {
                line(pending)
                pending.removeAll(keepingCapacity: true)
            } else if pending.count < 65536 {
                pending.append(byte)
            } else {
                uncertain = uncertain ?? "a line of the vhost dump is longer than 64 KiB"
            }
        }
    }

    /// The inventory, or nil with ``uncertainty`` set.
    public mutating func finish() -> ProxyInventory? {
        if !pending.isEmpty { line(pending) }
        pending = []
        return uncertain == nil ? inventory : nil
    }

    public var uncertainty: String? { uncertain }

    mutating func line(_ raw: [UInt8]) {
        var bytes = raw[...]
        while let last = bytes.last, last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
        let text = String(decoding: bytes, as: UTF8.self)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let first = words.first else { return }
        let indented = bytes.first == 0x20 || bytes.first == 0x09
        if !indented {
            lastSiteOpen = false
            guard first.contains(":"), let parsed = ProxyInventory.parseNginxListen(String(first)), words.count >= 2 else {
                // `VirtualHost configuration:` and anything httpd adds that names no address.
                current = nil
                return
            }
            current = parsed
            if words[1] == "is" { return }
            guard words.count >= 3, let (file, number) = Self.location(text) else {
                uncertain = uncertain ?? "cannot read the vhost dump line \"\(text)\""
                return
            }
            append(name: String(words[1]), file: file, line: number)
            return
        }
        guard let (address, port) = current else { return }
        if first == "port", words.count >= 5, words[2] == "namevhost" {
            guard let (file, number) = Self.location(text) else {
                uncertain = uncertain ?? "cannot read the vhost dump line \"\(text)\""
                return
            }
            current = (address, port)
            append(name: String(words[3]), file: file, line: number)
        } else if first == "alias" || (first == "wild" && words.count >= 3 && words[1] == "alias") {
            guard lastSiteOpen, let name = words.last else { return }
            inventory.sites[inventory.sites.count - 1].names.append(String(name).lowercased())
        }
    }

    mutating func append(name: String, file: String, line: Int) {
        guard let (address, port) = current else { return }
        if managedPaths.contains(file) {
            lastSiteOpen = false
            return
        }
        inventory.sites.append(
            ProxyInventory.Site(address: address, port: port, tls: nil, names: [name.lowercased()], file: file, line: line))
        lastSiteOpen = true
    }

    /// The `(PATH:LINE)` at the end of a line (a path may hold spaces).
    static func location(_ text: String) -> (String, Int)? {
        let bytes = Array(text.utf8)
        guard bytes.last == 0x29, bytes.count > 4 else { return nil }
        var open = bytes.count - 2
        while open > 0 && !(bytes[open - 1] == 0x20 && bytes[open] == 0x28) { open -= 1 }
        guard open > 0 else { return nil }
        let inner = bytes[(open + 1)..<(bytes.count - 1)]
        guard let colon = inner.lastIndex(of: 0x3A),
            let number = Int(String(decoding: inner[(colon + 1)...], as: UTF8.self))
        else { return nil }
        return (String(decoding: inner[..<colon], as: UTF8.self), number)
    }
}
