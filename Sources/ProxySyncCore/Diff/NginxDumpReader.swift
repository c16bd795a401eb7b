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

    // MARK: the tokenizer

    mutating func step(_ byte: UInt8) {
        if headerLine != nil {
            // Not bound to a local: a second reference would make every append copy the line.
            if byte == 0x0A {
                endHeaderLine()
                atLineStart = true
            } else if headerLine!.count < 8192 {
                headerLine!.append(byte)
            }
            return
        }
        if atLineStart && byte == 0x23 && depth == 0 && lastSpace && !needSpace && statement.isEmpty && !comment
            && !quoted
        {
            headerLine = [byte]
            atLineStart = false
            return
        }
        atLineStart = byte == 0x0A
        if byte == 0x0A && comment {
            comment = false
            return
        }
        if comment { return }
        if quoted {
            quoted = false
            appendToWord(byte)
            return
        }
        let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
        if needSpace {
            if isSpace {
                lastSpace = true
                needSpace = false
                return
            }
            switch byte {
            case 0x3B: return endStatement()
            case 0x7B: return openBlock()
            case 0x29:
                // `)` right after a quoted word starts the next word, as NGINX reads `if ($uri ~ "re")`.
                lastSpace = true
                needSpace = false
            default: return fail("unexpected \"\(Character(Unicode.Scalar(byte)))\" after a quoted word in \(file)")
            }
        }
        if lastSpace {
            if isSpace { return }
            switch byte {
            case 0x3B, 0x7B:  // ; {
                if statement.isEmpty { return fail("unexpected \"\(Character(Unicode.Scalar(byte)))\" in \(file)") }
                return byte == 0x3B ? endStatement() : openBlock()
            case 0x7D:  // }
                if !statement.isEmpty { return fail("unexpected \"}\" in \(file)") }
                return closeBlock()
            case 0x23:  // #
                comment = true
                return
            case 0x5C:  // backslash
                startWord()
                appendToWord(byte)
                quoted = true
                return
            case 0x22:  // "
                startWord()
                doubleQuoted = true
                return
            case 0x27:  // '
                startWord()
                singleQuoted = true
                return
            case 0x24:  // $
                startWord()
                appendToWord(byte)
                variable = true
                return
            default:
                startWord()
                appendToWord(byte)
                return
            }
        }
        // Inside a word.
        if byte == 0x7B && variable {
            appendToWord(byte)
            return
        }
        variable = false
        if byte == 0x5C {
            appendToWord(byte)
            quoted = true
            return
        }
        if byte == 0x24 {
            appendToWord(byte)
            variable = true
            return
        }
        if doubleQuoted || singleQuoted {
            if (doubleQuoted && byte == 0x22) || (singleQuoted && byte == 0x27) {
                doubleQuoted = false
                singleQuoted = false
                needSpace = true
                endWord()
                return
            }
            appendToWord(byte)
            return
        }
        if isSpace || byte == 0x3B || byte == 0x7B {
            lastSpace = true
            endWord()
            if byte == 0x3B { endStatement() } else if byte == 0x7B { openBlock() }
            return
        }
        appendToWord(byte)
    }

    mutating func startWord() {
        lastSpace = false
        word.removeAll(keepingCapacity: true)
        wordTooLong = false
    }

    mutating func appendToWord(_ byte: UInt8) {
        // Only the first word of a statement and the words of statements this reader needs are kept.
        guard statement.isEmpty || keepStatement else { return }
        if word.count < Self.maxWordBytes { word.append(byte) } else { wordTooLong = true }
    }

    /// Ends the word as NGINX copies it: `\"`, `\'`, `\\` lose their backslash; `\t`, `\r`, `\n` become the byte.
    mutating func endWord() {
        if statement.isEmpty || keepStatement {
            if wordTooLong && (statement.isEmpty || keepStatement) && !statement.isEmpty {
                return fail("a word longer than \(Self.maxWordBytes) bytes in a \(String(decoding: statement[0], as: UTF8.self)) directive in \(file)")
            }
            var out: [UInt8] = []
            out.reserveCapacity(word.count)
            var index = 0
            while index < word.count {
                let byte = word[index]
                if byte == 0x5C && index + 1 < word.count {
                    let next = word[index + 1]
                    switch next {
                    case 0x22, 0x27, 0x5C:
                        out.append(next)
                        index += 2
                        continue
                    case 0x74:
                        out.append(0x09)
                        index += 2
                        continue
                    case 0x72:
                        out.append(0x0D)
                        index += 2
                        continue
                    case 0x6E:
                        out.append(0x0A)
                        index += 2
                        continue
                    default: break
                    }
                }
                out.append(byte)
                index += 1
            }
            if statement.isEmpty { keepStatement = Self.kept.contains(out) || out == Array("server".utf8) }
            statement.append(out)
        } else {
            statement.append([])
        }
        word.removeAll(keepingCapacity: true)
        wordTooLong = false
    }

    mutating func endStatement() {
        defer {
            statement.removeAll(keepingCapacity: true)
            keepStatement = true
        }
        guard managedPaths.isEmpty || !managedPaths.contains(file) else { return }
        if let serverDepth, depth == serverDepth + 1 {
            var block = current
            current = Block()  // so that `block` is the only reference and grows in place
            directive(into: &block)
            current = block
        } else if serverDepth == nil, depth == 0 {
            var block = topLevel
            topLevel = Block()
            directive(into: &block)
            topLevel = block
        }
    }

    mutating func directive(into block: inout Block) {
        guard let keyword = statement.first else { return }
        let arguments = statement.dropFirst().map { String(decoding: $0, as: UTF8.self) }
        switch String(decoding: keyword, as: UTF8.self) {
        case "listen":
            guard let first = arguments.first else { return }
            let options = arguments.dropFirst()
            if options.contains("quic") { return }  // UDP
            guard let parsed = ProxyInventory.parseNginxListen(first) else {
                if first.hasPrefix("unix:") { return }
                return fail("cannot read \"listen \(first)\" in \(file)")
            }
            block.listens.append((parsed.0, parsed.1, options.contains("ssl")))
        case "server_name":
            for name in arguments where !name.isEmpty {
                block.names.append(ServerNameMatch.normalised(name))
            }
        case "ssl":
            if arguments.first?.lowercased() == "on" { block.sslOn = true }
        case "include":
            if let pattern = arguments.first { block.includes.append(pattern) }
        default: break
        }
    }

    mutating func openBlock() {
        let isServer = statement.count == 1 && statement[0] == Array("server".utf8)
        statement.removeAll(keepingCapacity: true)
        keepStatement = true
        if isServer, serverDepth == nil, managedPaths.isEmpty || !managedPaths.contains(file) {
            serverDepth = depth
            current = Block()
        }
        depth += 1
    }

    mutating func closeBlock() {
        depth -= 1
        if depth < 0 { return fail("unexpected \"}\" in \(file)") }
        if let start = serverDepth, depth == start {
            servers.append(Server(block: current, file: file))
            current = Block()
            serverDepth = nil
        }
    }

    mutating func endHeaderLine() {
        guard let line = headerLine else { return }
        headerLine = nil
        guard line.count > Self.header.count + 1, line.starts(with: Self.header), line.last == 0x3A else { return }
        let path = String(decoding: line[Self.header.count..<(line.count - 1)], as: UTF8.self)
        endFile()
        guard uncertain == nil else { return }
        // NGINX dumps each file once: a second header for a path is not NGINX's.
        guard seenFiles.insert(path).inserted else {
            return fail("the file \(path) appears twice in the dump")
        }
        if firstFile == nil { firstFile = path }
        file = path
    }

    /// The end of one file's bytes: it must be balanced, like every file NGINX loads.
    mutating func endFile() {
        if depth != 0 || !lastSpace || needSpace || !statement.isEmpty || quoted || doubleQuoted || singleQuoted {
            return fail("\(file.isEmpty ? "the dump" : file) ends inside a block, word or statement")
        }
        if !topLevel.listens.isEmpty || !topLevel.names.isEmpty || topLevel.sslOn || !topLevel.includes.isEmpty {
            fragments[file] = topLevel
        }
        topLevel = Block()
        comment = false
    }

    mutating func fail(_ why: String) {
        if uncertain == nil { uncertain = why }
    }
}
