import Testing

@Test func CaptureTestsBuilds() {
    #expect(Bool(true))
}
