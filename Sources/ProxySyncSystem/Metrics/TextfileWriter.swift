import ProxySyncCore

/// Writes node_exporter's textfile-collector file atomically, so a scrape never reads half a file.
///
/// Through the program's one atomic routine (``AtomicFile``): a hidden temporary name that does not end in
/// `.prom` (node_exporter reads only `*.prom`), then rename; a new file is 0644. Not fsynced: it is rewritten
/// every cycle and only needs to be whole when read, not to survive a power cut.
public enum TextfileWriter {
    /// Atomically replaces `path` with `bytes`.
    ///
    /// - Throws: ``StoreError`` naming the path and what to do; the temporary file is removed on every failure path.
    public static func write(_ bytes: [UInt8], to path: String) throws(StoreError) {
        try AtomicFile.write(bytes, to: path, label: "metrics", durable: false)
    }
}
