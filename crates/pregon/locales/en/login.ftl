# Signing in and out. ../es/login.ftl has the same keys.

login-title = Sign in
login-email = Email
login-password = Password
login-submit = Sign in
login-hint = On its first start, pregon prints the owner's email and password. Owners can add more users under Settings, or with the pregon user create command.
login-error-credentials = The email or the password is wrong.
login-error-locked =
    { $count ->
        [one] Too many failed sign-ins for this email. Try again in { $n } minute.
       *[other] Too many failed sign-ins for this email. Try again in { $n } minutes.
    }
login-error-other = Signing in did not work. Please try again.
logout = Sign out
