import CCurl
import Glibc
import ProxySyncCore

/// One request to one listener of the proxy, from this host, as a browser would arrive: connected to the
/// listen address (loopback when the proxy listens on all addresses), TLS with SNI = the server name,
/// `Host: name:port`. Certificates are not verified here (the certificate pre-flight did that), but on request the
/// leaf the listener presented is reported, for the judge to compare with the configured one; proxies in the
/// environment are never used; redirects are not followed.
public enum ListenerProbe {
    /// What a listener answered (``ProbeAnswer`` in the core).
    public typealias Answer = ProbeAnswer

    /// The most of an answer's body kept.
    static let maxBody = 4096

    final class Sink {
        var body: [UInt8] = []
    }

    /// GETs `path` from `listener` connected at `address`; returns the answer or what went wrong, in words.
    /// With `presentedCertificate` (HTTPS only), the answer carries the fingerprint of the leaf the listener
    /// presented; each call makes its own connection (a new handle, no TLS session resumed), so it always has one
    /// to read.
    public static func get(
        _ listener: Listener, path: String, address: String, timeoutMilliseconds: Int,
        accept: String? = nil, presentedCertificate: Bool = false, proxyProtocol: Bool = false
    ) -> Result<Answer, ProbeFailure> {
        guard let handle = curl_easy_init() else { return .failure(ProbeFailure("out of memory")) }
        defer { curl_easy_cleanup(handle) }
        return perform(
            handle, listener, path: path, address: address, timeoutMilliseconds: timeoutMilliseconds, accept: accept,
            presentedCertificate: presentedCertificate && listener.scheme == .https, proxyProtocol: proxyProtocol)
    }

    /// Two GETs over one connection, so both are answered by the same proxy process: `first`, and `then`
    /// only when `proceed` accepts the first answer. (After a reload, an old NGINX worker or httpd child may
    /// still accept a connection for a moment; the first answer says which configuration holds this one.)
    /// Neither answer carries the presented certificate: the second reuses the first's connection, for which
    /// libcurl reports none.
    public static func getPair(
        _ listener: Listener, first: String, then second: String, address: String, timeoutMilliseconds: Int,
        accept: String? = nil, proxyProtocol: Bool = false, proceed: (Answer) -> Bool
    ) -> (Result<Answer, ProbeFailure>, Result<Answer, ProbeFailure>?) {
        guard let handle = curl_easy_init() else { return (.failure(ProbeFailure("out of memory")), nil) }
        defer { curl_easy_cleanup(handle) }
        let one = perform(
            handle, listener, path: first, address: address, timeoutMilliseconds: timeoutMilliseconds,
            proxyProtocol: proxyProtocol)
        guard case .success(let answer) = one, proceed(answer) else { return (one, nil) }
        let two = perform(
            handle, listener, path: second, address: address, timeoutMilliseconds: timeoutMilliseconds, accept: accept,
            proxyProtocol: proxyProtocol)
        return (one, two)
    }

    static func perform(
        _ handle: UnsafeMutableRawPointer, _ listener: Listener, path: String, address: String,
        timeoutMilliseconds: Int, accept: String? = nil, presentedCertificate: Bool = false, proxyProtocol: Bool = false
    ) -> Result<Answer, ProbeFailure> {
        let sink = Sink()
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        let host = listener.serverName
        let url = "\(listener.scheme.rawValue)://\(host):\(listener.port)\(path)"
        let bracketed = address.contains(":") ? "[\(address)]" : address
        var connectTo: UnsafeMutablePointer<curl_slist>?
        connectTo = curl_slist_append(connectTo, "\(host):\(listener.port):\(bracketed):\(listener.port)")
        defer { curl_slist_free_all(connectTo) }
        var headers: UnsafeMutablePointer<curl_slist>?
        headers = curl_slist_append(headers, "Host: \(host):\(listener.port)")
        if let accept { headers = curl_slist_append(headers, "Accept: \(accept)") }
        defer { curl_slist_free_all(headers) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            gps_setopt_string(handle, CURLOPT_URL, url)
            gps_setopt_slist(handle, CURLOPT_CONNECT_TO, connectTo)
            gps_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)
            gps_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            gps_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            gps_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
            gps_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, timeoutMilliseconds)
            gps_setopt_protocols_http(handle)
            gps_setopt_string(handle, CURLOPT_PROXY, "")
            gps_setopt_string(handle, CURLOPT_NOPROXY, "*")
            gps_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
            gps_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
            gps_setopt_string(handle, CURLOPT_USERAGENT, "gocd-proxy-sync/\(Version.string) (confirmation)")
            // proxy_protocol = true: every listener expects a PROXY header first (SPEC 5e), from the probe too.
            if proxyProtocol, gps_setopt_haproxy_protocol(handle, 1) != CURLE_OK { return CURLE_UNKNOWN_OPTION }
            gps_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            gps_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
            if presentedCertificate {
                // The chain the server sent, as libcurl saw it in this handshake; no session resumed, so the
                // server sends its certificate (a resumed TLS session carries none).
                gps_setopt_long(handle, CURLOPT_CERTINFO, 1)
                gps_setopt_long(handle, CURLOPT_SSL_SESSIONID_CACHE, 0)
            }
            gps_setopt_write_callback(handle) { pointer, size, count, userdata in
                guard let pointer, let userdata else { return 0 }
                let sink = Unmanaged<Sink>.fromOpaque(userdata).takeUnretainedValue()
                let length = size * count
                let room = max(0, ListenerProbe.maxBody - sink.body.count)
                pointer.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                    sink.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: min(length, room)))
                }
                return length
            }
            let code = curl_easy_perform(handle)
            gps_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
            gps_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
            gps_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
            gps_setopt_slist(handle, CURLOPT_CONNECT_TO, nil)
            return code
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(ProbeFailure(describe(code, detail: detail)))
        }
        // Only the listener's own address counts: a name libcurl parsed differently (CURLOPT_CONNECT_TO then no
        // longer matches) would have connected wherever that name points.
        var primary: UnsafeMutablePointer<CChar>?
        gps_getinfo_string(handle, CURLINFO_PRIMARY_IP, &primary)
        let connected = primary.map { String(cString: $0) } ?? ""
        guard connected == address else {
            return .failure(ProbeFailure("connected to \(connected.isEmpty ? "an unknown address" : connected), not the listener's address \(address); the answer is not counted"))
        }
        var status = 0
        gps_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var location: UnsafeMutablePointer<CChar>?
        gps_getinfo_string(handle, CURLINFO_REDIRECT_URL, &location)
        return .success(
            Answer(
                status: status, location: location.map { String(cString: $0) },
                body: String(decoding: sink.body, as: UTF8.self),
                presentedCertificate: presentedCertificate ? presentedLeaf(handle) : nil))
    }

    /// The fingerprint of the leaf in CURLINFO_CERTINFO, only when this transfer made its connection: on a reused
    /// one libcurl reports no handshake, and an older list must not stand for it.
    static func presentedLeaf(_ handle: UnsafeMutableRawPointer) -> CertificateFingerprint? {
        var connects = 0
        gps_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        guard connects > 0, let pem = gps_certinfo_pem(handle, 0) else { return nil }
        return CertificateFingerprint.ofFirstCertificate(pem: pem)
    }

    static func describe(_ code: CURLcode, detail: String) -> String {
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_COULDNT_CONNECT: return "connection refused (\(text))"
        case CURLE_OPERATION_TIMEDOUT: return "timeout (\(text))"
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION: return "TLS failure (\(text))"
        default: return text
        }
    }
}
