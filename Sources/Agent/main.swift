print("helpline")
