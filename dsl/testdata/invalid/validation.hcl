# --var name=ab
# --var secret=hunter2
variable "name" {
  type = string
  validation {
    condition     = length(var.name) > 3
    error_message = "The name must be longer than 3 characters."
  }
}
variable "secret" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.secret) > 10
    error_message = "Too short: ${var.secret}."
  }
}
