import Shared

/// Reads a bundle the way an experienced technician would and says what is wrong.
/// (The rule engine lands with the diagnosis issue.)
public enum Diagnosis {}
