import ProxySyncCore

/// Writes node_exporter's textfile-collector file atomically, so a scrape never reads half a file.
///
/// Through ``AtomicFile/publish(_:at:label:)``: a hidden temporary name that does not end in `.prom`
/// (node_exporter reads only `*.prom`), then rename; 0644; a link at the path is replaced, never followed.
/// Not fsynced: it is rewritten every cycle and only needs to be whole when read.
public enum TextfileWriter {
    /// Atomically replaces `path` with `bytes`.
    ///
    /// - Throws: ``StoreError`` naming the path and what to do; the temporary file is removed on every failure path.
    public static func write(_ bytes: [UInt8], to path: String) throws(StoreError) {
        try AtomicFile.publish(bytes, at: path, label: .metrics)
    }
}
