x = { "\uaaaé" }
