# -H nogroup=h1
# --var count=many
# --var undeclared=1
variable "count" {
  type = number
}
variable "name" {
  type = string
  validation {
    condition     = length(var.name) > 3
    error_message = "The name must be longer than 3 characters."
  }
}
group "g" {}
