import CCurl
import Dispatch
import Glibc
import ProxySyncCore
import Synchronization

/// What libcurl needs to talk to GoCD. The secret never appears in a description.
public struct CurlOptions: Sendable {
    public enum Auth: Sendable {
        case none
        case bearer(String)
        case basic(username: String, password: String)

        public var kind: GoCDError.CredentialKind {
            switch self {
            case .none: .none
            case .bearer: .token
            case .basic: .basic
            }
        }
    }

    public var auth: Auth
    public var caFile: String?
    public var tlsVerify: Bool
    public var timeoutSeconds: Int
    /// An explicit proxy (`[gocd] proxy`); proxy environment variables are never used.
    public var proxy: String?

    public init(auth: Auth, caFile: String?, tlsVerify: Bool, timeoutSeconds: Int) {
        self.auth = auth
        self.caFile = caFile
        self.tlsVerify = tlsVerify
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A raw HTTP answer.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var contentType: String?
    public var location: String?
    public var body: [UInt8]
}

/// One libcurl easy handle, reused so the connection to GoCD is kept alive.
///
/// - Important: `perform` blocks, so it runs on a private serial queue, never on Swift's cooperative pool.
///   `CURLOPT_NOSIGNAL` and the timeouts keep a hung GoCD from hanging shutdown for long.
public final class CurlClient: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let options: CurlOptions
    private let counters = Mutex((requests: 0, sent: 0, received: 0))

    /// Requests made, and bytes sent to and received from GoCD (headers and bodies), since start.
    public var traffic: (requests: Int, sent: Int, received: Int) { counters.withLock { $0 } }

    public init(options: CurlOptions) {
        Self.globalInit
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = handle
        self.options = options
    }

    deinit { curl_easy_cleanup(handle) }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// libcurl's version string, e.g. `libcurl/7.88.1 OpenSSL/3.0.17 ...`.
    public static var version: String { String(cString: curl_version()) }

    /// GETs `url` with exactly the given Accept header.
    public func get(_ url: String, accept: String) async -> Result<HTTPAnswer, GoCDError> {
        await Blocking.run { self.performBlocking(url: url, accept: accept) }
    }

    final class Sink {
        var body: [UInt8] = []
        var tooLarge = false
    }

    private func performBlocking(url: String, accept: String) -> Result<HTTPAnswer, GoCDError> {
        let sink = Sink()
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        var headers: UnsafeMutablePointer<curl_slist>?
        headers = curl_slist_append(headers, "Accept: \(accept)")
        if case .bearer(let token) = options.auth {
            headers = curl_slist_append(headers, "Authorization: Bearer \(token)")
        }
        // Don't send "Expect:" or any other default header GoCD does not need.
        defer { curl_slist_free_all(headers) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let result: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            gps_setopt_string(handle, CURLOPT_URL, url)
            gps_setopt_long(handle, CURLOPT_HTTPGET, 1)
            gps_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)
            gps_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            gps_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            gps_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, min(options.timeoutSeconds, 10))
            gps_setopt_long(handle, CURLOPT_TIMEOUT, options.timeoutSeconds)
            gps_setopt_protocols_http(handle)
            gps_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
            gps_setopt_string(handle, CURLOPT_USERAGENT, "gocd-proxy-sync/\(Version.string)")
            gps_setopt_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            gps_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, options.tlsVerify ? 1 : 0)
            gps_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, options.tlsVerify ? 2 : 0)
            if let caFile = options.caFile { gps_setopt_string(handle, CURLOPT_CAINFO, caFile) }
            // libcurl reads http_proxy and friends from the environment unless told otherwise.
            if let proxy = options.proxy {
                gps_setopt_string(handle, CURLOPT_PROXY, proxy)
            } else {
                gps_setopt_string(handle, CURLOPT_PROXY, "")
                gps_setopt_string(handle, CURLOPT_NOPROXY, "*")
            }
            if case .basic(let username, let password) = options.auth {
                gps_setopt_long(handle, CURLOPT_HTTPAUTH, 1 /* CURLAUTH_BASIC */)
                gps_setopt_string(handle, CURLOPT_USERNAME, username)
                gps_setopt_string(handle, CURLOPT_PASSWORD, password)
            }
            gps_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
            gps_setopt_write_callback(handle) { pointer, size, count, userdata in
                guard let pointer, let userdata else { return 0 }
                let sink = Unmanaged<Sink>.fromOpaque(userdata).takeUnretainedValue()
                let length = size * count
                if sink.body.count + length > GoCDResponse.maxBodyBytes {
                    sink.tooLarge = true
                    return 0
                }
                pointer.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                    sink.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
                }
                return length
            }
            let code = curl_easy_perform(handle)
            // Leave no pointer into this stack frame behind in the reused handle.
            gps_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
            gps_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
            gps_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
            if case .basic = options.auth {
                gps_setopt_string(handle, CURLOPT_PASSWORD, "")
            }
            return code
        }
        if sink.tooLarge { return .failure(.bodyTooLarge) }
        guard result == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let text = detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
            return .failure(.transport("\(text) (\(url))"))
        }
        var status = 0
        gps_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var contentType: UnsafeMutablePointer<CChar>?
        gps_getinfo_string(handle, CURLINFO_CONTENT_TYPE, &contentType)
        var location: UnsafeMutablePointer<CChar>?
        gps_getinfo_string(handle, CURLINFO_REDIRECT_URL, &location)
        var sent = 0
        gps_getinfo_long(handle, CURLINFO_REQUEST_SIZE, &sent)
        var received = 0
        gps_getinfo_long(handle, CURLINFO_HEADER_SIZE, &received)
        counters.withLock { traffic in
            traffic.requests += 1
            traffic.sent += sent
            traffic.received += received + sink.body.count
        }
        return .success(
            HTTPAnswer(
                status: status, contentType: contentType.map { String(cString: $0) },
                location: location.map { String(cString: $0) },
                body: sink.body))
    }
}
