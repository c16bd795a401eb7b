// libFuzzer target: the readers of the proxy's configuration dump (`nginx -T`, `httpd -t -D DUMP_VHOSTS`) and
// of Apache virtual-host files, over any bytes.
// Properties: nothing traps; the input read in two chunks split anywhere gives the same result as read whole
// (the daemon reads the dump as a stream, in whatever pieces the pipe delivers); every site found has a real
// port; a claim of each name found is refused (a name another site serves is never taken).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)

    var whole = NginxDumpReader(managedPaths: ["/etc/nginx/conf.d/gocd.conf"])
    whole.feed(bytes)
    var chunked = NginxDumpReader(managedPaths: ["/etc/nginx/conf.d/gocd.conf"])
    chunked.feed(bytes[..<split])
    chunked.feed(bytes[split...])
    let first = whole.finish()
    guard first == chunked.finish() else { fatalError("nginx: reading in two chunks (split at \(split)) differs") }
    if let inventory = first { check(inventory) }

    var apache = ApacheDumpReader(managedPaths: [])
    apache.feed(bytes[..<split])
    apache.feed(bytes[split...])
    var apacheWhole = ApacheDumpReader(managedPaths: [])
    apacheWhole.feed(bytes)
    let read = apache.finish()
    guard read == apacheWhole.finish() else { fatalError("apache: reading in two chunks differs") }
    if var inventory = read {
        inventory.apacheNames = true
        check(inventory)
    }
    _ = ApacheVirtualHostScanner.scan(bytes)
    return 0
}

func check(_ inventory: ProxyInventory) {
    for site in inventory.sites {
        guard (1...65535).contains(site.port) else { fatalError("port \(site.port) out of range") }
        for name in site.names where !name.hasPrefix("~") && !name.contains("*") && !name.contains("?") && !name.hasPrefix(".") {
            guard (try? HostName.normalise(name)) == name else { continue }
            let listener = Listener(scheme: site.tls == true ? .https : .http, port: site.port, serverName: name, action: .proxy)
            let plan = ProxyPlan(listeners: [listener], siteURL: "", secureSiteURL: "", warnings: [])
            guard !inventory.collisions(with: plan, addresses: site.address.map { [$0] } ?? []).isEmpty else {
                fatalError("claiming \(name) on \(site.port) is not refused")
            }
        }
    }
}
