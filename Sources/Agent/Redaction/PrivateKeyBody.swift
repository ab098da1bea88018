/// Whether a text leaves a PEM private key's body open, so that the same writer's next text
/// (the next journal entry of one service, say) goes on with it. See `Redactor.redactInStream(_:privateKey:)`.
enum PrivateKeyBody: Sendable, Equatable {
    /// No body open: none began, or every one that began ended (`-----END`).
    case closed
    /// A `-----BEGIN … PRIVATE KEY-----` in this text has no `-----END` after it.
    case opened
    /// The text began inside a body and did not end it.
    case continued
}
