a = A

# b
b = B
msg = first
c = C
msg = second
