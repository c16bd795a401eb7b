/// Reads `nginx -T` output as a stream of bytes, the way NGINX's own tokenizer (`ngx_conf_read_token`) reads
/// a configuration file, and collects every `server` block's listeners, names and TLS flag.
///
/// The dump is each configuration file in turn, preceded by a line `# configuration file PATH:` that NGINX
/// writes; every file is balanced on its own, so a header is recognised only between statements at the top
/// level of a file. Rules taken from the tokenizer: a word ends at space, tab, CR, LF, `;` or `{`; `#` starts
/// a comment only where a word would start (in a word it is a byte of the word); `"` and `'` quote only at the
/// start of a word (in a word they are bytes), and a quoted word must be followed by space, `;` or `{`; a
/// backslash keeps the next byte from ending anything; `}` closes a block only where a word would start; `${`
/// inside a word does not open a block.
///
/// - Important: memory is bounded by the sites found, not by the dump's size: only the words of the
///   statements this reader needs (`server`, `listen`, `server_name`, `ssl`, `include`) are kept, each word at
///   most ``maxWordBytes``. Anything the reader cannot place with certainty makes ``finish()`` return nil.
public struct NginxDumpReader: Sendable {
    /// The longest word kept; a longer `server_name` or `listen` word makes the dump uncertain.
    public static let maxWordBytes = 4096
    static let header: [UInt8] = Array("# configuration file ".utf8)
    static let kept: Set<[UInt8]> = [
        Array("listen".utf8), Array("server_name".utf8), Array("ssl".utf8), Array("include".utf8),
    ]

    /// One `server { }` block, or the top level of a file that holds server-level directives (a fragment
    /// that a server block includes).
    struct Block: Sendable {
        var listens: [(address: String?, port: Int, tls: Bool)] = []
        var names: [String] = []
        var sslOn = false
        var includes: [String] = []
    }

    struct Server: Sendable {
        var block: Block
        var file: String
    }

    let managedPaths: Set<String>
    var file = ""
    var firstFile: String?
    var seenFiles: Set<String> = []
    var servers: [Server] = []
    var fragments: [String: Block] = [:]
    var uncertain: String?

    // Tokenizer state (ngx_conf_read_token's flags).
    var depth = 0
    var serverDepth: Int?
    var current = Block()
    var topLevel = Block()
    var statement: [[UInt8]] = []
    var keepStatement = true
    var word: [UInt8] = []
    var wordTooLong = false
    var lastSpace = true
    var needSpace = false
    var quoted = false
    var doubleQuoted = false
    var singleQuoted = false
    var variable = false
    var comment = false
    var atLineStart = true
    /// Bytes of a line that may be a file header (starts with `#` at the top level, between statements).
    var headerLine: [UInt8]?

    /// - Parameter managedPaths: the managed file (and the target of its link): its servers are left out.
    public init(managedPaths: Set<String>) {
        self.managedPaths = managedPaths
    }

    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes where uncertain == nil { step(byte) }
    }

    /// The inventory, or nil with ``uncertainty`` set when the dump cannot be read with certainty.
    public mutating func finish() -> ProxyInventory? {
        if headerLine != nil { endHeaderLine() }
        endFile()
        guard uncertain == nil else { return nil }
        var inventory = ProxyInventory()
        for server in servers {
            guard var block = resolve(server.block, depth: 0) else { return nil }
            if block.sslOn { block.listens = block.listens.map { ($0.address, $0.port, true) } }
            let listens = block.listens.isEmpty ? [(address: String?.none, port: 80, tls: block.sslOn)] : block.listens
            for listen in listens {
                inventory.sites.append(
                    ProxyInventory.Site(
                        address: listen.address, port: listen.port, tls: listen.tls, names: block.names, file: server.file))
            }
        }
        return inventory
    }

    /// Why ``finish()`` returned nil.
    public var uncertainty: String? { uncertain }

    // MARK: includes

    /// A server block with the server-level directives of the files it includes folded in.
    func resolve(_ block: Block, depth: Int) -> Block? {
        guard !block.includes.isEmpty else { return block }
        guard depth < 16 else { return nil }
        var out = block
        out.includes = []
        let prefix = firstFile.map(Self.directory) ?? "/"
        for pattern in block.includes {
            let full = pattern.hasPrefix("/") ? pattern : prefix + "/" + pattern
            let hasGlob = full.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" })
            for (path, fragment) in fragments.sorted(by: { $0.key < $1.key })
            where hasGlob ? Glob.matches(full, path, pathname: true) : path == full {
                guard let inner = resolve(fragment, depth: depth + 1) else { return nil }
                out.listens += inner.listens
                out.names += inner.names
                out.sslOn = out.sslOn || inner.sslOn
            }
        }
        return out
    }

    static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
