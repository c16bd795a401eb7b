// libFuzzer target: JSON.parse of any bytes; a value that parses serializes to text that re-parses to it.
// Properties: nothing traps (nesting is capped at JSON.maximumDepth, so no stack overflow); round trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let value: JSON
    do {
        value = try JSON.parse(bytes)
    } catch {
        guard (0...bytes.count).contains(error.offset) else {
            fatalError("parse error offset \(error.offset) outside 0...\(bytes.count)")
        }
        return 0
    }
    let text = value.serialized()
    let again: JSON
    do {
        again = try JSON.parse(Array(text.utf8))
    } catch {
        fatalError("serialized text does not parse (\(error.reason) at \(error.offset)): \(Escaping.printable(text))")
    }
    guard again == value else {
        fatalError("round trip changed the value: \(value) → \(Escaping.printable(text)) → \(again)")
    }
    guard again.serialized() == text else { fatalError("serialization is not stable: \(Escaping.printable(text))") }
    return 0
}
