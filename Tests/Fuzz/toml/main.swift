// libFuzzer target: TOML.parse and Settings.decode(text, file:) of any valid UTF-8 (the loader refuses
// anything else before parsing).
// Properties: nothing traps, no stack overflow (arrays nest at most TOML.maximumDepth levels); a syntax
// error names a line of the file, and Settings.decode reports it as one ConfigError "line N: ..." with no
// key; every entry's line is a line of the file; settings that decode render a plan without the renderer's
// last-line-of-defence gate refusing a value (everything was validated where it entered).

let file = "/etc/gocd-proxy-sync/config.toml"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    let lines = bytes.filter { $0 == 0x0A }.count + 1
    var syntaxLine: Int?
    do {
        let doc = try TOML.parse(text)
        for (_, table) in doc {
            for (key, entry) in table where !(1...lines).contains(entry.line) {
                fatalError("key \(key) at line \(entry.line) of a \(lines)-line file")
            }
        }
    } catch {
        guard (1...lines).contains(error.line) else {
            fatalError("syntax error at line \(error.line) of a \(lines)-line file: \(error.message)")
        }
        syntaxLine = error.line
    }
    let settings: Settings
    do {
        settings = try Settings.decode(text, file: file)
    } catch {
        if let syntaxLine {
            guard error.key == nil, error.file == file, error.problem.hasPrefix("line \(syntaxLine): ") else {
                fatalError("a syntax error at line \(syntaxLine) became \(error)")
            }
        }
        if error.description.contains("\n") { fatalError("a ConfigError spans lines: \(error)") }
        return 0
    }
    if let syntaxLine { fatalError("syntax error at line \(syntaxLine), yet settings decoded") }
    var listeners = [
        Listener(scheme: .http, port: 80, serverName: "gocd.example.com", action: .redirect(to: "https://gocd.example.com")),
        Listener(scheme: .https, port: 443, serverName: "gocd.example.com", action: .proxy),
    ]
    if !settings.proxy.hasCertificate {
        listeners = [Listener(scheme: .http, port: 80, serverName: "gocd.example.com", action: .proxy)]
    }
    let plan = ProxyPlan(listeners: listeners, siteURL: "http://gocd.example.com", secureSiteURL: "https://gocd.example.com")
    do {
        _ = try Renderers.make(for: settings.proxy).render(plan)
    } catch {
        fatalError("settings that decoded hold a value the renderer refuses: \(error)")
    }
    return 0
}
