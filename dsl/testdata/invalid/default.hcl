variable "n" {
  type    = number
  default = "ten"
}
variable "o" {
  type = object({ a = string, b = number })
  default = { a = "x", b = "y" }
}
