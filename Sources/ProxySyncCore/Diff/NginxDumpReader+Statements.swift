/// Statements, blocks and file headers: what the reader keeps of the words the tokenizer ends.
extension NginxDumpReader {
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
