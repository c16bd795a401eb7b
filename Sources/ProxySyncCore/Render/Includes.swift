/// The operator's own directives in the rendered file (README: Your own directives).
///
/// Every include is named in the file's head with a digest of what it held when the file was rendered, so an
/// edited include makes a new file (and a new generation): it is tested, reloaded and confirmed like any change.
public enum Includes {
    /// Starts each head line naming an include and its digest.
    public static let headPrefix = "# Include: "

    /// `# Include: <path> digest=<hex>` for every include, sorted; empty without includes.
    static func head(_ settings: ProxySettings) throws(ConfigToken.Unsafe) -> String {
        var out = ""
        for path in settings.includes {
            let digest = settings.includeDigests[path] ?? "unread"
            out += "\(headPrefix)\(try ConfigToken.checked(path)) digest=\(try ConfigToken.checked(digest))\n"
        }
        return out
    }

    /// The head lines of a rendered (or installed) file: path → digest.
    public static func named(in text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(64)
        where line.hasPrefix(headPrefix) {
            let words = line.dropFirst(headPrefix.count).split(separator: " ")
            guard words.count == 2, words[1].hasPrefix("digest=") else { continue }
            out[String(words[0])] = String(words[1].dropFirst("digest=".count))
        }
        return out
    }

    /// One include directive per path (`include P;` for NGINX, `Include P` for Apache) at `indent`, under a comment
    /// naming the key; empty without paths.
    static func directives(_ paths: [String], key: String, kind: ProxyKind, indent: String) throws(ConfigToken.Unsafe)
        -> String
    {
        guard !paths.isEmpty else { return "" }
        var out = "\(indent)# The operator's own directives (\(key)).\n"
        for path in paths {
            let checked = try ConfigToken.checked(path)
            out += kind == .nginx ? "\(indent)include \(checked);\n" : "\(indent)Include \(checked)\n"
        }
        return out
    }
}
