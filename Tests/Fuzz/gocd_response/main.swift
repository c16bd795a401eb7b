// libFuzzer target: any HTTP answer → GoCDResponse.interpret (site URLs or a GoCDError).
//
// Input: 2 bytes of status (big-endian, taken modulo 1000), 1 byte choosing the credentials sent, then
// `content-type \n location \n body` (a missing part is nil; the body is the rest, any bytes).
// Properties: nothing traps; an error's description is one printable log line; a 200 answer that is
// accepted carries exactly the body's two string fields.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard bytes.count >= 3 else { return 0 }
    let status = (Int(bytes[0]) << 8 | Int(bytes[1])) % 1000
    let credentials: GoCDError.CredentialKind = [.none, .token, .basic][Int(bytes[2]) % 3]
    var rest = bytes[3...]
    func part() -> String? {
        guard !rest.isEmpty else { return nil }
        let cut = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        let text = String(decoding: rest[..<cut], as: UTF8.self)
        rest = cut < rest.endIndex ? rest[(cut + 1)...] : rest[rest.endIndex...]
        return text
    }
    let contentType = part()
    let location = part()
    let body = Array(rest)
    let result = GoCDResponse.interpret(
        status: status, contentType: contentType, location: location, body: body, credentials: credentials)
    switch result {
    case .success(let urls):
        guard status == 200, case .object(let members)? = try? JSON.parse(body),
            members["site_url"]?.string == urls.siteURL, members["secure_site_url"]?.string == urls.secureSiteURL
        else {
            fatalError("accepted an answer that is not a 200 with both fields: status \(status)")
        }
    case .failure(let error):
        let line = error.description
        for scalar in line.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            fatalError(
                "error description holds a control character U+\(String(scalar.value, radix: 16)): \(Escaping.printable(line))")
        }
        // Escaping.printable keeps at most 300 scalars of what GoCD sent, each at most 10 characters escaped.
        if line.unicodeScalars.count > 3500 {
            fatalError("error description is \(line.unicodeScalars.count) characters long")
        }
    }
    return 0
}
