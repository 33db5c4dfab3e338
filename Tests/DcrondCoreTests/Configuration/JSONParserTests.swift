import Testing

@testable import DcrondCore

@Suite("JSON parser")
struct JSONParserTests {
    @Test("values, escapes and duplicate keys are kept as written")
    func values() throws {
        let value = try JSONParser.parse(
            Array(#"{"a": [1, -2.5e3, true, false, null], "s": "x\"\\\n\u00e9\ud83d\ude00", "a": {}}"#.utf8)
        )
        #expect(
            value
                == .object([
                    JSONMember(
                        key: "a",
                        value: .array([
                            .number(1, text: "1"), .number(-2500, text: "-2.5e3"), .bool(true), .bool(false), .null,
                        ]),
                        line: 1
                    ),
                    JSONMember(key: "s", value: .string("x\"\\\né😀"), line: 1),
                    JSONMember(key: "a", value: .object([]), line: 1),
                ])
        )
    }

    @Test(
        "syntax errors give line, column and reason",
        arguments: [
            ("", "line 1, column 1: unexpected end of the document; a value is missing"),
            ("{\"a\": 1,}", "line 1, column 9: trailing comma before '}'"),
            ("[1,]", "line 1, column 4: trailing comma before ']'"),
            ("{\"a\" 1}", "line 1, column 6: expected ':' after the key \"a\""),
            ("{\n  \"a\": 01\n}", "line 2, column 8: numbers cannot have leading zeros"),
            ("{\"a\": \"x}", "line 1, column 7: unterminated string"),
            ("// comment\n{}", "line 1, column 1: unexpected character '/'; expected a value"),
            ("{} {}", "line 1, column 4: unexpected text after the end of the document"),
            (
                "{\"a\": tru}",
                "line 1, column 7: unexpected text; expected a value (true, false, null, a number, a string, an array or an object)"
            ),
            ("\"\\x\"", "line 1, column 4: unknown escape \\'x'"),
            ("\"\\ud800\"", "line 1, column 8: unpaired UTF-16 surrogate in \\u escape"),
            (String(repeating: "[", count: 65), "line 1, column 65: nested more than 64 levels deep"),
        ]
    )
    func syntaxErrors(text: String, message: String) {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
        #expect(error?.description == message)
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        #expect(error?.message == "a string is not valid UTF-8")
    }
}
