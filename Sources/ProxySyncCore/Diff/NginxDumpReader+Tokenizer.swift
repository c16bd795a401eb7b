/// The tokenizer: bytes to words and statements, as `ngx_conf_read_token` reads them (rules in
/// ``NginxDumpReader``'s summary).
extension NginxDumpReader {

    mutating func step(_ byte: UInt8) {
        if headerLine != nil {
            // Not bound to a local: a second reference would make every append copy the line.
            if byte == 0x0A {
                endHeaderLine()
                atLineStart = true
            } else if headerLine!.count < 8192 {
                headerLine!.append(byte)
            }
            return
        }
        if atLineStart && byte == 0x23 && depth == 0 && lastSpace && !needSpace && statement.isEmpty && !comment
            && !quoted
        {
            headerLine = [byte]
            atLineStart = false
            return
        }
        atLineStart = byte == 0x0A
        if byte == 0x0A && comment {
            comment = false
            return
        }
        if comment { return }
        if quoted {
            quoted = false
            appendToWord(byte)
            return
        }
        let isSpace = byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
        if needSpace {
            if isSpace {
                lastSpace = true
                needSpace = false
                return
            }
            switch byte {
            case 0x3B: return endStatement()
            case 0x7B: return openBlock()
            case 0x29:
                // `)` right after a quoted word starts the next word, as NGINX reads `if ($uri ~ "re")`.
                lastSpace = true
                needSpace = false
            default: return fail("unexpected \"\(Character(Unicode.Scalar(byte)))\" after a quoted word in \(file)")
            }
        }
        if lastSpace {
            if isSpace { return }
            switch byte {
            case 0x3B, 0x7B:  // ; {
                if statement.isEmpty { return fail("unexpected \"\(Character(Unicode.Scalar(byte)))\" in \(file)") }
                return byte == 0x3B ? endStatement() : openBlock()
            case 0x7D:  // }
                if !statement.isEmpty { return fail("unexpected \"}\" in \(file)") }
                return closeBlock()
            case 0x23:  // #
                comment = true
                return
            case 0x5C:  // backslash
                startWord()
                appendToWord(byte)
                quoted = true
                return
            case 0x22:  // "
                startWord()
                doubleQuoted = true
                return
            case 0x27:  // '
                startWord()
                singleQuoted = true
                return
            case 0x24:  // $
                startWord()
                appendToWord(byte)
                variable = true
                return
            default:
                startWord()
                appendToWord(byte)
                return
            }
        }
        // Inside a word.
        if byte == 0x7B && variable {
            appendToWord(byte)
            return
        }
        variable = false
        if byte == 0x5C {
            appendToWord(byte)
            quoted = true
            return
        }
        if byte == 0x24 {
            appendToWord(byte)
            variable = true
            return
        }
        if doubleQuoted || singleQuoted {
            if (doubleQuoted && byte == 0x22) || (singleQuoted && byte == 0x27) {
                doubleQuoted = false
                singleQuoted = false
                needSpace = true
                endWord()
                return
            }
            appendToWord(byte)
            return
        }
        if isSpace || byte == 0x3B || byte == 0x7B {
            lastSpace = true
            endWord()
            if byte == 0x3B { endStatement() } else if byte == 0x7B { openBlock() }
            return
        }
        appendToWord(byte)
    }

    mutating func startWord() {
        lastSpace = false
        word.removeAll(keepingCapacity: true)
        wordTooLong = false
    }

    mutating func appendToWord(_ byte: UInt8) {
        // Only the first word of a statement and the words of statements this reader needs are kept.
        guard statement.isEmpty || keepStatement else { return }
        if word.count < Self.maxWordBytes { word.append(byte) } else { wordTooLong = true }
    }

    /// Ends the word as NGINX copies it: `\"`, `\'`, `\\` lose their backslash; `\t`, `\r`, `\n` become the byte.
    mutating func endWord() {
        if statement.isEmpty || keepStatement {
            if wordTooLong && (statement.isEmpty || keepStatement) && !statement.isEmpty {
                return fail("a word longer than \(Self.maxWordBytes) bytes in a \(String(decoding: statement[0], as: UTF8.self)) directive in \(file)")
            }
            var out: [UInt8] = []
            out.reserveCapacity(word.count)
            var index = 0
            while index < word.count {
                let byte = word[index]
                if byte == 0x5C && index + 1 < word.count {
                    let next = word[index + 1]
                    switch next {
                    case 0x22, 0x27, 0x5C:
                        out.append(next)
                        index += 2
                        continue
                    case 0x74:
                        out.append(0x09)
                        index += 2
                        continue
                    case 0x72:
                        out.append(0x0D)
                        index += 2
                        continue
                    case 0x6E:
                        out.append(0x0A)
                        index += 2
                        continue
                    default: break
                    }
                }
                out.append(byte)
                index += 1
            }
            if statement.isEmpty { keepStatement = Self.kept.contains(out) || out == Array("server".utf8) }
            statement.append(out)
        } else {
            statement.append([])
        }
        word.removeAll(keepingCapacity: true)
        wordTooLong = false
    }
}
